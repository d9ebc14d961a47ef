"""MongoDB adapters (PyMongo's asyncio client): event store, read models, checkpoints,
snapshots, leases and projections."""

from forze_mongo.checkpoints import MongoCheckpointStore
from forze_mongo.database import MongoDatabase
from forze_mongo.event_store import MongoEventStore
from forze_mongo.leases import MongoLeases
from forze_mongo.module import mongo_module
from forze_mongo.projections import MongoProjectionBackend
from forze_mongo.read_models import MongoReadModelStore, MongoReadModelStores
from forze_mongo.snapshots import MongoSnapshotStore

__all__ = [
    "MongoCheckpointStore",
    "MongoDatabase",
    "MongoEventStore",
    "MongoLeases",
    "MongoProjectionBackend",
    "MongoReadModelStore",
    "MongoReadModelStores",
    "MongoSnapshotStore",
    "mongo_module",
]

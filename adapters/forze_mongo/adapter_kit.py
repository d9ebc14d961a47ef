"""What authors of MongoDB-backed adapters need: the document type, collection-name checks
and error translation. An application needs only ``forze_mongo``'s top level."""

from forze_mongo.database import Document, check_collection_name
from forze_mongo.errors import is_transient, translated

__all__ = ["Document", "check_collection_name", "is_transient", "translated"]

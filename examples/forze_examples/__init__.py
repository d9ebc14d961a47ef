"""Example bounded contexts built with forze (the bank accounts of ``forze demo``)."""

__all__: list[str] = []

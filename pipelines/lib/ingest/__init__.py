"""Landing-zone ingestion: declarative entity specs, file readers and the set-based loader."""

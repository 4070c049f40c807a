"""Everything that talks to Google Cloud (or its local twin). The only importer of google.cloud."""

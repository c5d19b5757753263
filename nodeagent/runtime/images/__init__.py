"""OCI images: references, registry client, content and layer store."""

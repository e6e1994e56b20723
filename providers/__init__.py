"""Built-in wire formats, registered through the wireproto.providers entry points."""

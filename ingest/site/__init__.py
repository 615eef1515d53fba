"""The public web face: the published snapshot, the Datasette server, the site's pages."""

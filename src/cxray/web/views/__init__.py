"""One module per page; each has a template of the same name and answers JSON from the same view."""

"""shipping's revisions, oldest first by their numbers."""

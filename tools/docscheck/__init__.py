"""Keeps the docs true to the code: excerpts in sync with their source regions, links that resolve, the two
languages in step, and the commands a reader types giving the output the pages show."""

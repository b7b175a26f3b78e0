"""What a valid row is, and how rows are found in a file: the CSV internals, free of S3.

``sniff`` tells a file's kind and compression from its first bytes, ``decoding`` undoes the
compression and the text encoding, ``delimiters`` rewrites ``;``, tab or ``|`` to commas, and
``options`` holds how an upload asks to be read. ``boundaries`` finds where records start and end
(quote-aware), ``chunkfile`` is the chunk object format (runs of whole records with their line
numbers), ``fields`` splits a record into fields and JSON values, ``rowcheck`` judges a row against
its table's JSON Schema, ``fastpath`` is the regular expression compiled from the same schema that
vouches for the common valid row, and ``cleaned`` writes a valid row for COPY.
"""

__all__ = [
    "boundaries",
    "chunkfile",
    "cleaned",
    "decoding",
    "delimiters",
    "fastpath",
    "fields",
    "options",
    "rowcheck",
    "sniff",
]

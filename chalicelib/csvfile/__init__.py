"""What a valid row is, and how rows are found in a file: the CSV internals, free of S3.

``boundaries`` finds where records start and end in a byte stream (quote-aware), ``chunkfile``
is the chunk object format (runs of whole records with their line numbers), ``rowcheck`` judges
one record against its table's JSON Schema and writes its cleaned form, and ``fastpath`` is the
regular expression compiled from the same schema that vouches for the common valid row.
"""

__all__ = ["boundaries", "chunkfile", "fastpath", "rowcheck"]

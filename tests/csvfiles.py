"""Hypothesis strategies for CSV bytes that drive the record finder through every state."""

from __future__ import annotations

from hypothesis import strategies as st

# Byte soup that drives the quoting state machine through every state: quotes at and inside
# fields, doubled quotes, bare CR, CRLF, a BOM, bytes that are not UTF-8.
TOKENS = [
    b"a",
    b"7",
    b" ",
    b",",
    b'"',
    b'""',
    b"\n",
    b"\r",
    b"\r\n",
    b"\xef\xbb\xbf",
    b"\xff",
    b"\xc3\xa9",
]
soup = st.lists(st.sampled_from(TOKENS), max_size=60).map(b"".join)
# Mostly well-formed lines, as real files are, with some soup mixed in.
line = st.one_of(
    st.builds(lambda a, b: b"%s,%s\n" % (a, b), st.sampled_from([b"1", b"22", b""]), soup),
    st.builds(lambda a: b'1,"%s",2\r\n' % a.replace(b'"', b'""'), soup),
    soup,
)
files = st.lists(line, max_size=25).map(b"".join)

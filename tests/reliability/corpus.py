"""Named nasty files, generated in code: what real exports and real users send.

Each entry is (name, table, bytes). Nothing here says what the outcome should be; the oracle
works that out, so a file can be added without writing down its expected rows.
"""

from __future__ import annotations

import functools

BOM = b"\xef\xbb\xbf"
OK_DT = "2021-07-27T16:02:08Z"


def hire(
    i: object = 1,
    name: str = "Ada",
    dt: str = OK_DT,
    dep: object = 1,
    job: object = 1,
    *,
    end: str = "\n",
) -> str:
    return f"{i},{name},{dt},{dep},{job}{end}"


def hires(rows: list[str]) -> bytes:
    return "".join(rows).encode()


INT_CASES = [
    "+7",
    "007",
    "1e3",
    "7.0",
    " 7",
    "7 ",
    "-1",
    "0",
    "-0",
    "0x1F",
    "１２",  # fullwidth digits: int() accepts them, the rules do not
    "9223372036854775807",
    "9223372036854775808",
    "99999999999999999999999999",
    "1" * 5000,  # beyond Python's int() digit limit
    "",
    "NULL",
]
DATE_CASES = [
    "2021-02-30T10:00:00Z",
    "2021-02-29T10:00:00Z",
    "2020-02-29T10:00:00Z",
    "1900-02-29T00:00:00Z",
    "2000-02-29T00:00:00Z",
    "2021-13-01T00:00:00Z",
    "2021-00-10T00:00:00Z",
    "2021-04-31T00:00:00Z",
    "2021-07-27T24:00:00Z",
    "2021-06-30T23:59:60Z",
    "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2021-07-27T16:02:08+00:00",
    "2021-07-27T16:02:08+01:00",
    "2021-07-27T16:02:08-05:00",
    "2021-07-27T16:02:08",
    "2021-07-27 16:02:08Z",
    "2021-07-27t16:02:08z",
    "2021-07-27T16:02:08.123Z",
    "2021-7-27T16:02:08Z",
    "27/07/2021 16:02",
    "1627401728",
    " 2021-07-27T16:02:08Z",
    '"2021-07-27T16:02:08Z\n"',
    "",
]
TEXT_CASES = [
    '"Smith, Jr."',
    '"She said ""hi"""',
    '"two\nlines"',
    '"two\r\nlines"',
    "  padded  ",
    "   ",
    "\t",
    "",
    "x" * 256,
    "x" * 257,
    "🙂" * 256,  # 1024 bytes in UTF-8: still 256 characters
    "e\u0301\u0301\u0301",  # combining marks
    "\u202eevil\u202c",  # right-to-left override
    "Robert'); DROP TABLE hired_employees;--",
    '"1; DROP TABLE ""jobs""; --"',
    '=HYPERLINK("http://x")',
    "NULL",
    "\\N",
    'a"b',  # a quote inside an unquoted field is a literal character
    '"a"b',  # text after a closing quote
    '"a" ',
    ' "a"',
    "a\rb",  # a lone CR is data, and a control character a name may not hold
]


def _many(n: int, dup_every: int = 0) -> bytes:
    rows = []
    for i in range(1, n + 1):
        ident = (i % dup_every) + 1 if dup_every else i
        rows.append(hire(ident, f"Person {i}", OK_DT, i % 7 + 1, i % 5 + 1))
    return hires(rows)


@functools.cache
def corpus() -> list[tuple[str, str, bytes]]:
    files: list[tuple[str, str, bytes]] = [
        ("empty file", "jobs", b""),
        ("only blank lines", "jobs", b"\n\r\n\n"),
        ("BOM only", "jobs", BOM),
        ("BOM and a blank line", "jobs", BOM + b"\r\n1,Dev\r\n"),
        ("header line only", "hired_employees", b"id,name,datetime,department_id,job_id\n"),
        (
            "header line then rows",
            "hired_employees",
            b"id,name,datetime,department_id,job_id\n" + hires([hire(1), hire(2)]),
        ),
        ("UTF-8 BOM then rows", "departments", BOM + b"1,Sales\n2,Legal\n"),
        ("BOM on a later line", "departments", b"1,Sales\n" + BOM + b"2,Legal\n"),
        ("CRLF line breaks", "jobs", b"1,Dev\r\n2,Ops\r\n"),
        ("mixed LF and CRLF", "jobs", b"1,Dev\n2,Ops\r\n3,QA\n4,SRE\r\n"),
        ("no trailing newline", "jobs", b"1,Dev\n2,Ops"),
        ("CRLF without trailing newline", "jobs", b"1,Dev\r\n2,Ops\r"),
        ("blank lines between rows", "jobs", b"\n1,Dev\n\n\r\n2,Ops\n\n"),
        ("classic Mac CR line breaks", "jobs", b"1,Dev\r2,Ops\r3,QA\r"),
        ("lone CR inside a row", "jobs", b"1,De\rv\n2,Ops\n"),
        (
            "quoted commas, quotes and newlines",
            "hired_employees",
            hires(
                [
                    hire(1, '"Hopper, Grace"'),
                    hire(2, '"The ""Amazing"" Ada"'),
                    hire(3, '"Multi\nLine\nName"'),
                    hire(4, '"CRLF\r\ninside"', end="\r\n"),
                    hire(5, '","'),
                    hire('"6"', "quoted id", OK_DT, '"1"', '"1"'),
                ]
            ),
        ),
        (
            "non-UTF-8 bytes (latin-1)",
            "departments",
            b"1,Sales\n2,Ing\xe9nierie\n3,Legal\n4,\xff\xfe\n",
        ),
        ("UTF-16 file", "departments", "1,Sales\n2,Legal\n".encode("utf-16")),
        ("NUL byte in a name", "departments", b"1,Sa\x00les\n2,Legal\n"),
        (
            "wrong column counts",
            "hired_employees",
            b"1,Ada\n2,Bob,2021-07-27T16:02:08Z,1,1,extra\n3\n,\n,,,,\n4,Ok,"
            + OK_DT.encode()
            + b",1,1\n",
        ),
        (
            "ids: signs, zeros, exponents, spaces, 64-bit limits",
            "hired_employees",
            hires([hire(v, f"case {n}") for n, v in enumerate(INT_CASES)])
            + hires([hire(100 + n, "fk case", OK_DT, v, v) for n, v in enumerate(INT_CASES)]),
        ),
        (
            "impossible dates and other offsets",
            "hired_employees",
            hires([hire(n + 1, f"date {n}", v) for n, v in enumerate(DATE_CASES)]),
        ),
        (
            "text: spaces, lengths, unicode, injection",
            "hired_employees",
            hires([hire(n + 1, v) for n, v in enumerate(TEXT_CASES)]),
        ),
        (
            "surrounding spaces in every field",
            "hired_employees",
            hires([hire(" 1 ", " Ada ", f" {OK_DT} ", " 1 ", " 1 "), hire(2, " Ada ")]),
        ),
        ("unclosed quote at the end", "departments", b'1,Sales\n2,"Legal\n3,Ops\n4,HR'),
        (
            "unclosed quote swallowing 64 KiB",
            "departments",
            b'1,Sales\n2,"Legal\n' + b"".join(b"%d,Dept %d\n" % (i, i) for i in range(3, 9000)),
        ),
        ("text after a closing quote", "departments", b'1,"Sales"x\n2,"Legal" \n3,"a"b"c\n4,ok\n'),
        (
            "a single 10 MB line",
            "departments",
            b"1,Sales\n2," + b"x" * (10 * 1024 * 1024) + b"\n3,Legal\n",
        ),
        (
            "records just under and over 64 KiB",
            "departments",
            b"1," + b"y" * (64 * 1024 - 2) + b"\n2," + b"z" * (64 * 1024 - 1) + b"\n3,ok\n",
        ),
        (
            "only bad rows",
            "hired_employees",
            hires(
                [
                    hire("x"),
                    hire(1, ""),
                    hire(2, "Ada", "2021-02-30T00:00:00Z"),
                    hire(3, "Ada", OK_DT, 0),
                    "just one field\n",
                ]
            ),
        ),
        (
            "duplicate ids: last wins",
            "jobs",
            b"1,Dev\n2,Ops\n1,Dev 2\n3,QA\n1,Dev 3\n2,Ops 2\n",
        ),
        ("duplicate ids where the last is bad", "jobs", b"1,Dev\n1,\n1,   \n"),
        ("many chunks with duplicates across them", "hired_employees", _many(60, dup_every=17)),
        (
            "SQL injection in every text field",
            "departments",
            b"1,'; DROP TABLE departments; --\n"
            b'2,"""; DELETE FROM ""ingest_loads""; --"\n'
            b"3,Robert') OR ('1'='1\n"
            b"4,\\'; COPY departments TO '/tmp/x'; --\n",
        ),
    ]
    return files

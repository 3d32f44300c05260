"""truceline: verifiable ceasefire monitoring along a line of contact.

Pipeline stages live in subpackages (geo, sim, ingest, evidence, store, analysis,
commission, report, web); `truceline.formats` holds the public interchange formats
(spec `formats.md`) that every stage shares, and `truceline.errors` the one error type
the CLI turns into a single clear line.
"""

__version__ = "0.1.0"

"""Sans-io cryptographic protocol of Liaison: PyNaCl and the standard library only."""

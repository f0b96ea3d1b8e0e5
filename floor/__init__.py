"""The Floor Engine: domain code, importable without Temporal."""

"""Build hook for the native line scanner; all other metadata lives in pyproject.toml.

The extension is optional: when no C compiler is around the install still succeeds and
pmortem falls back to the (slower) pure polars path, saying so on `pmortem ingest`.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "pmortem.parsers._scan",
            sources=["parsers/_scan.c"],
            extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            optional=True,
        )
    ]
)

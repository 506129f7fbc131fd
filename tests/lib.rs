//! End-to-end tests of the `knooppunt` binary live in `e2e/`; this library
//! is empty and exists so the package has a target of its own.

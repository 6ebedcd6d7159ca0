//! End-to-end tests live in `tests/system/`; this crate has no library code.

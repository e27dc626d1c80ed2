//! Unit tests of the runtime API (pure parts and the trait fake).

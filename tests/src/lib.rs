//! Shared fixtures for the integration suites (see tests/).

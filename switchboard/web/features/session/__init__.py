"""Signing in and out: the JSON login, the login form, and the identity provider (OIDC)."""

"""The web's features, each a folder with the same files: `routes` (handlers and the endpoint
table), `service` (what the handlers call, through `WebServices`), `schemas` (the typed request
and response shapes) and `pages` (the Swedish pages)."""

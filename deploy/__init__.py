"""Packaging helpers for deployment (``make package``); not deployed themselves."""

"""Model bundles, the CTranslate2 engine and the task router."""

from integration.inference.bundle import Bundle, BundleError, Manifest, load_bundle
from integration.inference.engine import Engine, Output, Request
from integration.inference.router import Router

__all__ = ["Bundle", "BundleError", "Engine", "Manifest", "Output", "Request", "Router", "load_bundle"]

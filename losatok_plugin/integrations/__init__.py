"""Bridges to other frameworks. Each sub-package imports its framework lazily: ``import losatok_plugin``
never imports them."""

"""Deployment exports (ONNX). Heavy optional imports happen inside the functions (extra ``[deploy]``)."""

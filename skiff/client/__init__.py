"""The shared Kubernetes API client: kubeconfig loading, sans-I/O requests, an aiohttp transport.

Objects are plain dicts. Typical use::

    async with ApiClient.from_kubeconfig() as api:
        pods = await api.list(find("pods"), namespace="default")
        async for etype, obj in api.watch(find("pods"), resource_version=pods["metadata"]["resourceVersion"]):
            ...
"""
from .kubeconfig import ClientConfig, Kubeconfig, KubeconfigError, load, load_client_config
from .requests import TABLE_ACCEPT, PatchType, Request, Verb
from .transport import ApiClient, ApiError, Gone

__all__ = ["ApiClient", "ApiError", "ClientConfig", "Gone", "Kubeconfig", "KubeconfigError", "PatchType",
           "Request", "TABLE_ACCEPT", "Verb", "load", "load_client_config"]

"""CRI v1 for the node engine: the ``runtime.v1`` gRPC services over the engine's
container manager (engine part 2) and image store (engine part 1).

``api_pb2*`` are generated from ``api.proto`` (deploy/codegen/gen_cri.py); ``server`` serves
them; ``runtime`` translates CRI calls to the container manager; ``sandbox`` holds the pod
namespaces; ``cni`` runs CNI plugins. The agent imports only the generated modules (a client).
"""

"""The Service proxy and cluster DNS (``skiff proxy``, ``skiff dns``).

* ``model``: what the proxy reads from Services and EndpointSlices (pure).
* ``rules``: Services + EndpointSlices + node -> a ``Ruleset`` of ``SKIFF-`` chains (pure,
  modelled on kube-proxy's iptables proxier); ``restore``: its ``iptables-restore`` text,
  whole or incremental (pure); ``conntrack``: stale UDP flows to delete (pure).
* ``iptables``: the applier, one ``iptables-restore --noflush`` per sync (nft or legacy).
* ``proxier``: cache + rate-limited sync loop; ``watch``: list+watch into it.
* ``dns``: cluster DNS answers (pure), the UDP/TCP server, the pod ``resolv.conf``.
"""

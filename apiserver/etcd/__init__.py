"""etcd: the embedded single-member etcd and the key/value store on top of it."""

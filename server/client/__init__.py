"""What every qhall client shares, whatever its event loop.

* :mod:`server.client.session`: the protocol-v1 client session, sans I/O
  (hello, ``since``, seq de-duplication, pending requests resent with the same
  id, server-URL rotation for failover).
* :mod:`server.client.aio`: an asyncio client over that session (simulator,
  demo, load test).
* :mod:`server.client.bootstrap`: the apps' ``--server/--device/--token-file/
  --demo`` options.
* :mod:`server.client.tokens`: a device's token from ``--token-file``, or the
  demo hall's ``demo-<ID>`` convention.

The Qt client, ``server.client.qtlink.Link``, is the other I/O layer over the session.
"""

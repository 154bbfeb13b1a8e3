"""What the tests share: media generators and probes (``media``), the CLI runner (``cli``), live
servers and displays (``live``); ``rtsp_server.py`` and ``ray_cluster.py`` run as separate processes."""

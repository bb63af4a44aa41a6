"""The Official Account's own set-up through WeChat's API: the custom menu and parametric QR codes."""

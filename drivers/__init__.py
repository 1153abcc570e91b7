"""The pump link: protocol, serial session and simulated pump. Imports no Qt."""

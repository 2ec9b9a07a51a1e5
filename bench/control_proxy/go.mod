module control-proxy

go 1.27

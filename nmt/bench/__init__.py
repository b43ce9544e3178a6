"""Throughput benchmarks: training and decoding speed, matmul peak and floors."""

"""Risk: the gate, the throttle, the circuit breakers, the supervisor and the halt latch."""

//! Integration tests of the bus transports.

mod bus_conformance;

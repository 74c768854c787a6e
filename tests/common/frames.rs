//! Crafted frames (see kernel_datapath.rs).

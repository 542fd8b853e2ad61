#version 410 core
// The multisampled pass: which surface each sample sees. A float target, because glClear of
// an integer target is undefined in GL; ids stay exact up to 2^24.

uniform float u_surface_id;

out float o_surface;

void main() {
    o_surface = u_surface_id;
}

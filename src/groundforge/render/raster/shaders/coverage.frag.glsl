#version 410 core
// The multisampled pass: which surface each sample sees. With DEFECTS (defined by the engine
// after the version line), also which defect part each sample sees, and holes (spheres in the
// object frame) are cut as in the G-buffer pass. Float targets, because glClear of an integer
// target is undefined in GL; ids stay exact up to 2^24.

uniform float u_surface_id;

layout(location = 0) out float o_surface;

#ifdef DEFECTS
in vec3 v_object;

#define MAX_HOLES 8
uniform float u_part_defect;
uniform int u_hole_count;
uniform vec4 u_holes[MAX_HOLES];  // centre, radius

layout(location = 1) out float o_defect;
#endif

void main() {
#ifdef DEFECTS
    for (int i = 0; i < u_hole_count; ++i) {
        if (length(v_object - u_holes[i].xyz) < u_holes[i].w) {
            discard;
        }
    }
    o_defect = u_part_defect;
#endif
    o_surface = u_surface_id;
}

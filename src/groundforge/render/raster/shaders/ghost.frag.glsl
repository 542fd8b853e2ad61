#version 410 core
// The defect pass for geometry a defect removed or displaced: its id wherever that geometry
// would be seen. Drawn with depth tested but not written. The engine defines SAMPLES for the
// multisampled variant, whose target is a float one (glClear of integer targets is undefined).

in vec3 v_object;

uniform uint u_defect_id;
uniform vec4 u_clip;  // centre, radius (object frame): only what lay inside; radius 0: all

#ifdef SAMPLES
layout(location = 0) out float o_defect;
#else
layout(location = 0) out uint o_defect;
#endif

void main() {
    if (u_clip.w > 0.0 && length(v_object - u_clip.xyz) >= u_clip.w) {
        discard;
    }
#ifdef SAMPLES
    o_defect = float(u_defect_id);
#else
    o_defect = u_defect_id;
#endif
}

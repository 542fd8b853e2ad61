#version 410 core
// The exact passes and the G-buffer for deferred shading, one sample per pixel centre.
// With FLOW defined (after the version line, by the engine), also forward optical flow; with
// DEFECTS, the body's surface marks and the defect pass. Worlds without defects use the variant
// without them and pay nothing for them.

in vec3 v_eye;         // OpenCV camera frame, metres
in vec3 v_normal_eye;
in vec2 v_uv;
in vec3 v_object;      // object frame, metres

uniform uint u_instance_id;
uniform uint u_class_id;
uniform uint u_surface_id;  // this draw, so the anti-aliasing pass can find its own pixels
uniform vec3 u_base_color;
uniform float u_metallic;
uniform float u_roughness;
uniform sampler2D u_texture;  // sRGB texture decoded by the sampler; 1x1 white when none
#ifdef DEFECTS
uniform mat4 u_model_view;    // object -> OpenCV camera frame (rigid), for mark normals

// Defects. A part may belong wholly to one; marks are capsules in the object frame (see
// world/state.py Mark): a: p0, radius; b: p1 (dent: the unit normal at p0), kind (0 stain,
// 1 scratch, 2 crack, 3 dent, 4 hole); c: linear colour, opacity; d: defect id, roughness,
// groove depth (dent: metres).
#define MAX_MARKS 32
uniform uint u_part_defect;
uniform int u_mark_count;
uniform vec4 u_mark_a[MAX_MARKS];
uniform vec4 u_mark_b[MAX_MARKS];
uniform vec4 u_mark_c[MAX_MARKS];
uniform vec4 u_mark_d[MAX_MARKS];
#endif

layout(location = 0) out uint o_instance;
layout(location = 1) out uint o_class;
layout(location = 2) out float o_depth;
layout(location = 3) out vec4 o_normal;  // xyz: unit camera-frame normal; w: metallic
layout(location = 4) out vec4 o_albedo;  // rgb: linear base colour; a: roughness
layout(location = 5) out uint o_surface;
#ifdef DEFECTS
layout(location = 6) out uint o_defect;  // defect id (World-wide); 0: none
#define FLOW_LOCATION 7
#else
#define FLOW_LOCATION 6
#endif

#ifdef FLOW
in vec3 v_next_eye;  // where this surface point is in the next frame's camera frame, metres
uniform mat3 u_K;    // OpenCV intrinsics, pixels
layout(location = FLOW_LOCATION) out vec2 o_flow;  // pixels (du, dv); 0 where the point leaves the front
#endif

void main() {
    // The triangle's own plane decides which side is seen, so winding order never matters and
    // thin one-sided sheets shade from both sides.
    vec3 n_geom = cross(dFdx(v_eye), dFdy(v_eye));
    vec3 n = normalize(v_normal_eye);
    if (dot(n_geom, n_geom) > 0.0) {
        if (dot(n_geom, v_eye) > 0.0) {
            n_geom = -n_geom;
        }
        if (dot(n, n_geom) < 0.0) {
            n = -n;
        }
    }
    // Texture rows go up top row first (at t = 0) while uv has v up, hence 1 - v.
    vec3 albedo = u_base_color * texture(u_texture, vec2(v_uv.x, 1.0 - v_uv.y)).rgb;
    float roughness = u_roughness;
    float depth_offset = 0.0;
#ifdef DEFECTS
    uint defect = u_part_defect;
    // Marks change the surface only where they claim it (distance < radius), so the defect
    // pass below covers every pixel they change.
    for (int i = 0; i < u_mark_count; ++i) {
        vec3 p0 = u_mark_a[i].xyz;
        int kind = int(u_mark_b[i].w + 0.5);
        vec3 off;
        if (kind >= 3) {  // dent, hole: a sphere about p0
            off = v_object - p0;
        } else {
            vec3 axis = u_mark_b[i].xyz - p0;
            float t = clamp(dot(v_object - p0, axis) / max(dot(axis, axis), 1e-20), 0.0, 1.0);
            off = v_object - (p0 + t * axis);
        }
        float r = length(off) / u_mark_a[i].w;
        if (r >= 1.0) {
            continue;
        }
        if (kind == 4) {  // hole: the surface is gone here
            discard;
        }
        defect = uint(u_mark_d[i].x + 0.5);
        if (kind == 3) {
            // Dent: the surface pushed in along the centre's normal (b.xyz) by depth * w(r),
            // w = (1 - r^2)^2, so its walls face the centre; the depth pass follows it.
            vec3 inward = -u_mark_b[i].xyz;
            vec3 radial = off - dot(off, inward) * inward;
            float slope = u_mark_d[i].z * 4.0 * r * (1.0 - r * r) / u_mark_a[i].w;
            if (dot(radial, radial) > 0.0) {
                n = normalize(n - slope * normalize(mat3(u_model_view) * radial));
            }
            float w = (1.0 - r * r) * (1.0 - r * r);
            depth_offset += (mat3(u_model_view) * (inward * u_mark_d[i].z * w)).z;
            continue;
        }
        float fade = kind == 0 ? 1.0 - r * r * r : 1.0;
        albedo = mix(albedo, u_mark_c[i].rgb, u_mark_c[i].a * fade);
        roughness = mix(roughness, u_mark_d[i].y, fade);
        if (kind != 0 && u_mark_d[i].z > 0.0 && r > 0.0) {
            // A V-shaped groove: the wall facing away from the axis tilts the normal.
            vec3 side = normalize(mat3(u_model_view) * off);
            side -= n * dot(side, n);
            n = normalize(n - u_mark_d[i].z * side);
        }
    }
    o_defect = defect;
#endif
    o_instance = u_instance_id;
    o_class = u_class_id;
    o_depth = v_eye.z + depth_offset;
    o_normal = vec4(n, u_metallic);
    o_albedo = vec4(albedo, roughness);
    o_surface = u_surface_id;
#ifdef FLOW
    // A rigid motion is affine, so the perspective-correct interpolation of the next position
    // is the next position of exactly the point seen at this centre; projecting it here, not
    // interpolating projected pixels, keeps flow exact. GL window coordinates are OpenCV pixel
    // coordinates (gl_projection in engine.py). The max() only keeps the unselected quotient
    // finite.
    vec3 q = u_K * v_next_eye;
    o_flow = q.z > 0.0 ? q.xy / max(q.z, 1e-20) - gl_FragCoord.xy : vec2(0.0);
#endif
}

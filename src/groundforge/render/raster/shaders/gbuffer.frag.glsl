#version 410 core
// The exact passes and the G-buffer for deferred shading, one sample per pixel centre.
// With FLOW defined (after the version line, by the engine), also forward optical flow.

in vec3 v_eye;         // OpenCV camera frame, metres
in vec3 v_normal_eye;
in vec2 v_uv;

uniform uint u_instance_id;
uniform uint u_class_id;
uniform uint u_surface_id;  // this draw, so the anti-aliasing pass can find its own pixels
uniform vec3 u_base_color;
uniform float u_metallic;
uniform float u_roughness;
uniform sampler2D u_texture;  // sRGB texture decoded by the sampler; 1x1 white when none

layout(location = 0) out uint o_instance;
layout(location = 1) out uint o_class;
layout(location = 2) out float o_depth;
layout(location = 3) out vec4 o_normal;  // xyz: unit camera-frame normal; w: metallic
layout(location = 4) out vec4 o_albedo;  // rgb: linear base colour; a: roughness
layout(location = 5) out uint o_surface;

#ifdef FLOW
in vec3 v_next_eye;  // where this surface point is in the next frame's camera frame, metres
uniform mat3 u_K;    // OpenCV intrinsics, pixels
layout(location = 6) out vec2 o_flow;  // pixels (du, dv); 0 where the point leaves the front
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
    o_instance = u_instance_id;
    o_class = u_class_id;
    o_depth = v_eye.z;
    o_normal = vec4(n, u_metallic);
    // Texture rows go up top row first (at t = 0) while uv has v up, hence 1 - v.
    vec3 albedo = u_base_color * texture(u_texture, vec2(v_uv.x, 1.0 - v_uv.y)).rgb;
    o_albedo = vec4(albedo, u_roughness);
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

#version 410 core
// Deferred shading, once per pixel centre, from the G-buffer written by gbuffer.frag: linear
// radiance from metallic-roughness Cook-Torrance (GGX distribution, height-correlated Smith-GGX
// visibility, Schlick Fresnel) under the world's lights, with filtered shadow maps. No exposure
// or tone mapping: the sensor model does both.
//
// Written for a SIMD software rasteriser as much as for a GPU. llvmpipe runs both sides of
// every `if` under lane masks, but leaves a loop once no lane is active. Hence: the engine
// compiles one variant per light set, replacing the LIGHTS marker in main() with one statement
// per light that names its kind and shadow functions (a generic loop switching on kinds would
// pay for every kind at every pixel); and work worth skipping sits in loops whose bounds are
// uniforms (so the compiler cannot unroll them into `if`s).

#define MAX_LIGHTS 8
#define MAX_SHADOW_TAPS 16
// Taps that decide alone when a pixel is fully lit or fully shadowed.
#define FIRST_TAPS 4

const float PI = 3.14159265358979;
// Keeps highlights finite in a half-float target.
const float MAX_RADIANCE = 60000.0;
// PCF kernel radius in shadow texels before any area-light softening, and the most softening.
const float BASE_RADIUS_TEXELS = 1.5;
const float MAX_EXTRA_RADIUS_TEXELS = 12.0;

uniform usampler2D u_surface;  // 0 where no surface
uniform sampler2D u_depth;     // z-depth, metres
uniform sampler2D u_normal;    // xyz: camera-frame normal facing the camera; w: metallic
uniform sampler2D u_albedo;    // rgb: linear base colour; a: roughness
uniform mat3 u_inv_K;          // pixel (u, v, 1) -> camera-frame point at z = 1
uniform mat4 u_camera_to_world;
uniform vec3 u_background;
uniform vec3 u_sky;            // summed ambient irradiance from above (+Z) ...
uniform vec3 u_ground;         // ... and from below
uniform int u_shadow_taps;     // most PCF taps, FIRST_TAPS to MAX_SHADOW_TAPS
uniform int u_once;            // 1: the bound of loops that run at most once

uniform vec3 u_light_radiant[MAX_LIGHTS];    // colour * intensity
uniform vec3 u_light_position[MAX_LIGHTS];
uniform vec3 u_light_direction[MAX_LIGHTS];  // unit, the way the light travels
uniform vec4 u_light_shape[MAX_LIGHTS];      // spot: cos inner, cos outer; area: radius (m)

uniform mat4 u_shadow_matrix[MAX_LIGHTS];    // world -> shadow clip (ortho, perspective)
// x: texel size in metres (ortho) or per metre of distance (perspective, cube);
// y: extra blur radius in metres (area lights); z, w: cube depth mapping A + B / z.
uniform vec4 u_shadow_params[MAX_LIGHTS];
uniform sampler2DShadow u_shadow_map[MAX_LIGHTS];
uniform vec3 u_cube_right[6];
uniform vec3 u_cube_up[6];
uniform vec3 u_cube_forward[6];

out vec4 o_color;

struct Surface {
    vec3 p;       // world position
    vec3 n;       // world normal, facing the camera
    vec3 v;       // unit direction to the camera
    vec3 albedo;
    float metallic;
    float roughness;
    float alpha;  // GGX alpha = roughness^2
    mat2 rotation;  // of the PCF disc at this pixel
};

struct Incident {
    vec3 l;           // unit direction to the light
    vec3 irradiance;  // on a surface facing the light
    float alpha;      // GGX alpha widened for the emitter's size
};

// PCF taps in the unit disc, rotated per pixel (the rotation turns banding into fine noise that
// sensor noise hides): a ring of four first, then a Vogel (golden-angle) spiral.
const vec2 DISC[MAX_SHADOW_TAPS] = vec2[](
    vec2(0.5303, 0.5303), vec2(-0.5303, 0.5303), vec2(-0.5303, -0.5303), vec2(0.5303, -0.5303),
    vec2(0.1950, 0.0603), vec2(-0.3196, 0.1511), vec2(0.1725, -0.4226), vec2(0.1873, 0.5066),
    vec2(-0.5446, -0.2801), vec2(0.6531, -0.1783), vec2(-0.3926, 0.6225), vec2(-0.1408, -0.7779),
    vec2(0.6699, 0.5094), vec2(-0.8860, 0.0813), vec2(0.6291, -0.6922), vec2(0.0039, 0.9789)
);

// The lit fraction around uv; the first taps stop the loop where they agree, so only the
// penumbra pays for the rest. Each tap is a bilinear 2 x 2 comparison already. Inactive pixels
// (facing away from the light, or off the map) take no taps and count as lit.
float filtered(sampler2DShadow map, mat2 rotation, vec2 uv, float depth, vec2 radius_uv,
               vec4 box, bool enabled) {
    float lit = 0.0;
    int k = 0;
    for (; k < (enabled ? u_shadow_taps : 0); ++k) {
        if (k == FIRST_TAPS && (lit == 0.0 || lit == float(FIRST_TAPS))) {
            break;
        }
        vec2 q = clamp(uv + rotation * DISC[k] * radius_uv, box.xy, box.zw);
        lit += textureLod(map, vec3(q, depth), 0.0);
    }
    return k == 0 ? 1.0 : lit / float(k);
}

// Whether light arrives at all (front side, inside a spot's cone): elsewhere shadows don't matter.
bool reaches(Surface s, Incident inc) {
    vec3 e = inc.irradiance;
    return dot(s.n, inc.l) > 0.0 && max(e.r, max(e.g, e.b)) > 0.0;
}

float kernel_texels(vec4 params, float texel_m) {
    return BASE_RADIUS_TEXELS + min(params.y / texel_m, MAX_EXTRA_RADIUS_TEXELS);
}

// The point pushed off its surface along the normal, against acne, by more on slopes and for
// wider kernels (whose outer taps would otherwise reach into the surface itself).
vec3 offset_point(Surface s, vec3 l, float texel_m, float radius_texels) {
    float n_dot_l = clamp(dot(s.n, l), 0.0, 1.0);
    float slope = sqrt(1.0 - n_dot_l * n_dot_l);
    return s.p + s.n * texel_m * (0.5 + slope * (1.0 + radius_texels));
}

float shadow_projected(sampler2DShadow map, int i, Surface s, Incident inc, bool ortho) {
    vec3 l = inc.l;
    vec4 params = u_shadow_params[i];
    vec4 c = u_shadow_matrix[i] * vec4(s.p, 1.0);
    float texel_m = ortho ? params.x : params.x * max(c.w, 1e-4);
    float radius = kernel_texels(params, texel_m);
    c = u_shadow_matrix[i] * vec4(offset_point(s, l, texel_m, radius), 1.0);
    vec3 uvz = c.xyz / c.w * 0.5 + 0.5;
    // Outside the map (or behind a perspective light) nothing lies between point and light.
    bool outside = c.w <= 0.0 || any(lessThan(uvz.xy, vec2(0.0)))
        || any(greaterThan(uvz.xy, vec2(1.0)));
    vec2 size = vec2(textureSize(map, 0));
    vec4 box = vec4(0.5 / size, 1.0 - 0.5 / size);
    return filtered(map, s.rotation, uvz.xy, clamp(uvz.z, 0.0, 1.0), radius / size, box,
                    !outside && reaches(s, inc));
}

float shadow_ortho(sampler2DShadow map, int i, Surface s, Incident inc) {
    return shadow_projected(map, i, s, inc, true);
}

float shadow_perspective(sampler2DShadow map, int i, Surface s, Incident inc) {
    return shadow_projected(map, i, s, inc, false);
}

// Point lights: six 90-degree faces tiled 3 x 2 in one map.
float shadow_cube(sampler2DShadow map, int i, Surface s, Incident inc) {
    vec3 l = inc.l;
    vec4 params = u_shadow_params[i];
    vec3 d = s.p - u_light_position[i];
    vec3 a = abs(d);
    int face = a.x >= a.y && a.x >= a.z ? (d.x >= 0.0 ? 0 : 1)
        : (a.y >= a.z ? (d.y >= 0.0 ? 2 : 3) : (d.z >= 0.0 ? 4 : 5));
    float texel_m = params.x * max(dot(d, u_cube_forward[face]), 1e-4);
    float radius = kernel_texels(params, texel_m);
    d = offset_point(s, l, texel_m, radius) - u_light_position[i];
    float z = max(dot(d, u_cube_forward[face]), 1e-4);
    vec2 face_uv = vec2(dot(d, u_cube_right[face]), dot(d, u_cube_up[face])) / z * 0.5 + 0.5;
    float depth = clamp((params.z + params.w / z) * 0.5 + 0.5, 0.0, 1.0);
    vec2 size = vec2(textureSize(map, 0));
    vec2 tiles = vec2(3.0, 2.0);
    vec2 tile = vec2(float(face % 3), float(face / 3));
    vec4 box = vec4(tile / tiles + 0.5 / size, (tile + 1.0) / tiles - 0.5 / size);
    vec2 uv = clamp((tile + face_uv) / tiles, box.xy, box.zw);
    return filtered(map, s.rotation, uv, depth, radius / size, box, reaches(s, inc));
}

Incident directional_light(int i, Surface s) {
    return Incident(-u_light_direction[i], u_light_radiant[i], s.alpha);
}

Incident point_light(int i, Surface s) {
    vec3 to_light = u_light_position[i] - s.p;
    float d2 = max(dot(to_light, to_light), 1e-8);
    return Incident(to_light * inversesqrt(d2), u_light_radiant[i] / d2, s.alpha);
}

Incident spot_light(int i, Surface s) {
    Incident inc = point_light(i, s);
    float cos_emit = dot(-inc.l, u_light_direction[i]);
    inc.irradiance *= smoothstep(u_light_shape[i].y, u_light_shape[i].x, cos_emit);
    return inc;
}

Incident area_light(int i, Surface s) {
    Incident inc = point_light(i, s);
    float cos_emit = dot(-inc.l, u_light_direction[i]);
    inc.irradiance *= max(cos_emit, 0.0);
    // A larger emitter widens the highlight (Karis' roughness widening).
    float d = length(u_light_position[i] - s.p);
    inc.alpha = clamp(s.alpha + u_light_shape[i].x / (2.0 * max(d, 1e-4)), 0.0, 1.0);
    return inc;
}

// Radiance reflected towards the camera from one light: Lambert diffuse plus Cook-Torrance.
vec3 reflected(Surface s, Incident inc) {
    vec3 h = normalize(s.v + inc.l);
    float n_dot_l = dot(s.n, inc.l);
    float n_dot_v = max(dot(s.n, s.v), 1e-4);
    float n_dot_h = max(dot(s.n, h), 0.0);
    float v_dot_h = max(dot(s.v, h), 0.0);
    float nl = max(n_dot_l, 1e-4);

    vec3 f0 = mix(vec3(0.04), s.albedo, s.metallic);
    vec3 fresnel = f0 + (1.0 - f0) * pow(1.0 - v_dot_h, 5.0);
    float a2 = inc.alpha * inc.alpha;
    float denom = n_dot_h * n_dot_h * (a2 - 1.0) + 1.0;
    float distribution = a2 / (PI * denom * denom);
    float visibility = 0.5 / (nl * sqrt(n_dot_v * n_dot_v * (1.0 - a2) + a2)
                              + n_dot_v * sqrt(nl * nl * (1.0 - a2) + a2));
    // Energy kept when the highlight is widened for an area light.
    float energy = (s.alpha / inc.alpha) * (s.alpha / inc.alpha);

    vec3 specular = distribution * visibility * fresnel * energy;
    vec3 diffuse = (1.0 - fresnel) * (1.0 - s.metallic) * s.albedo / PI;
    return (diffuse + specular) * inc.irradiance * max(n_dot_l, 0.0);
}

// Karis' analytic fit of the split-sum environment BRDF, for the ambient specular.
vec3 env_brdf(vec3 f0, float roughness, float n_dot_v) {
    vec4 r = roughness * vec4(-1.0, -0.0275, -0.572, 0.022) + vec4(1.0, 0.0425, 1.04, -0.04);
    float a004 = min(r.x * r.x, exp2(-9.28 * n_dot_v)) * r.x + r.y;
    vec2 ab = vec2(-1.04, 1.04) * a004 + r.zw;
    return f0 * ab.x + ab.y;
}

// The hemisphere light: diffuse irradiance by normal, a blurred sky/ground for the specular.
vec3 ambient(Surface s) {
    vec3 irradiance = mix(u_ground, u_sky, 0.5 + 0.5 * s.n.z);
    vec3 r = reflect(-s.v, s.n);
    vec3 environment = mix(u_ground, u_sky, 0.5 + 0.5 * r.z) / PI;
    vec3 f0 = mix(vec3(0.04), s.albedo, s.metallic);
    float n_dot_v = max(dot(s.n, s.v), 1e-4);
    return (1.0 - s.metallic) * s.albedo / PI * irradiance
        + env_brdf(f0, s.roughness, n_dot_v) * environment;
}

void main() {
    ivec2 pixel = ivec2(gl_FragCoord.xy);
    // GL window coordinates are OpenCV pixel coordinates (see gl_projection in engine.py).
    float z = texelFetch(u_depth, pixel, 0).r;
    vec4 normal_metallic = texelFetch(u_normal, pixel, 0);
    vec4 albedo_roughness = texelFetch(u_albedo, pixel, 0);
    vec3 p_eye = z * (u_inv_K * vec3(gl_FragCoord.xy, 1.0));

    Surface s;
    s.p = (u_camera_to_world * vec4(p_eye, 1.0)).xyz;
    s.n = normalize(mat3(u_camera_to_world) * normal_metallic.xyz);
    s.v = normalize(mat3(u_camera_to_world) * -p_eye);
    s.albedo = albedo_roughness.rgb;
    s.metallic = normal_metallic.w;
    s.roughness = clamp(albedo_roughness.a, 0.045, 1.0);
    s.alpha = s.roughness * s.roughness;

    float angle = 6.2831853 * fract(52.9829189 * fract(dot(gl_FragCoord.xy,
                                                           vec2(0.06711056, 0.00583715))));
    s.rotation = mat2(cos(angle), sin(angle), -sin(angle), cos(angle));

    o_color = vec4(u_background, 1.0);
    bool empty = texelFetch(u_surface, pixel, 0).r == 0u;
    for (int once = 0; once < u_once && !empty; ++once) {  // skipped for background pixels
        vec3 radiance = ambient(s);
        Incident inc;
        // @LIGHTS@
        o_color = vec4(min(radiance, vec3(MAX_RADIANCE)), 1.0);
    }
}

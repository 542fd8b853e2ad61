#version 410 core
// Anti-aliased radiance from the multisampled coverage pass (coverage.frag) and the radiance
// shaded once per pixel centre (shade.frag). Each sample takes the colour of the surface it
// sees, shaded at its own pixel centre when that lies on the same surface, else at the first
// 4-neighbour centre that does; background samples take the background colour. The average is
// what a multisampled colour target would resolve to, without shading every sample.
//
// The engine defines SAMPLES after the version line. Pixels whose samples all see the centre's
// surface skip the neighbour search: it sits in a loop (see shade.frag for why).

uniform sampler2DMS u_coverage;  // R32F surface id per sample, 0 where empty
uniform usampler2D u_surface;    // surface id at each pixel centre
uniform sampler2D u_shaded;
uniform vec3 u_background;
uniform int u_once;              // 1: the bound of loops that run at most once

out vec4 o_color;

void main() {
    ivec2 pixel = ivec2(gl_FragCoord.xy);
    float centre_id = float(texelFetch(u_surface, pixel, 0).r);
    float ids[SAMPLES];
    bool interior = true;
    for (int s = 0; s < SAMPLES; ++s) {
        ids[s] = texelFetch(u_coverage, pixel, s).r;
        interior = interior && ids[s] == centre_id;
    }
    o_color = vec4(texelFetch(u_shaded, pixel, 0).rgb, 1.0);

    for (int once = 0; once < u_once && !interior; ++once) {
        ivec2 last = textureSize(u_surface, 0) - 1;
        ivec2 around[4] = ivec2[](
            min(pixel + ivec2(0, 1), last), max(pixel - ivec2(0, 1), ivec2(0)),
            min(pixel + ivec2(1, 0), last), max(pixel - ivec2(1, 0), ivec2(0))
        );
        float around_id[4];
        for (int k = 0; k < 4; ++k) {
            around_id[k] = float(texelFetch(u_surface, around[k], 0).r);
        }
        vec3 sum = vec3(0.0);
        for (int s = 0; s < SAMPLES; ++s) {
            // A sliver that no nearby centre hit keeps its pixel's colour; the instance pass
            // misses it too. Tried last to first so that the centre wins.
            ivec2 source = pixel;
            for (int k = 3; k >= 0; --k) {
                source = around_id[k] == ids[s] ? around[k] : source;
            }
            source = centre_id == ids[s] ? pixel : source;
            vec3 colour = texelFetch(u_shaded, source, 0).rgb;
            sum += ids[s] == 0.0 ? u_background : colour;
        }
        o_color = vec4(sum / float(SAMPLES), 1.0);
    }
}

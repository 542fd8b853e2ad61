#version 410 core
// The defect pass of a multisampled camera: the defect seen at the pixel centre, else the
// largest defect id any sample sees, so a defect thinner than a pixel still marks the pixels
// whose anti-aliased colour it changes. The engine defines SAMPLES after the version line.

uniform usampler2D u_centre;      // defect id at each pixel centre (G-buffer)
uniform sampler2DMS u_samples;    // R32F defect id per sample: defect parts and ghosts

out uint o_defect;

void main() {
    ivec2 pixel = ivec2(gl_FragCoord.xy);
    uint id = texelFetch(u_centre, pixel, 0).r;
    float most = 0.0;
    for (int s = 0; s < SAMPLES; ++s) {
        most = max(most, texelFetch(u_samples, pixel, s).r);
    }
    o_defect = id != 0u ? id : uint(most + 0.5);
}

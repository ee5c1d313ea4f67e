// CartPole-v1 as gymnasium defines it (gymnasium/envs/classic_control/cartpole.py and its registration):
// the same constants, Euler integration, termination limits, reward and the 500-step time limit. The state is
// kept in float64 (JavaScript numbers) and observed as float32, as gymnasium does.

export const GRAVITY = 9.8;
export const MASS_CART = 1.0;
export const MASS_POLE = 0.1;
export const TOTAL_MASS = MASS_POLE + MASS_CART;
export const LENGTH = 0.5; // half the pole's length
export const POLE_MASS_LENGTH = MASS_POLE * LENGTH;
export const FORCE_MAG = 10.0;
export const TAU = 0.02; // seconds between state updates
export const THETA_THRESHOLD = (12 * 2 * Math.PI) / 360;
export const X_THRESHOLD = 2.4;
export const MAX_EPISODE_STEPS = 500;

/** A small seeded generator (mulberry32): the page's episodes are reproducible from their seed. */
export function generator(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class CartPole {
  /** A new episode: each state variable uniform in [-0.05, 0.05), as gymnasium's reset. */
  constructor(seed = 0, state = null) {
    const random = generator(seed);
    this.state = state ? [...state] : [0, 0, 0, 0].map(() => -0.05 + 0.1 * random());
    this.steps = 0;
    this.episodeReturn = 0;
    this.terminated = false;
    this.truncated = false;
  }

  /** The observation: the state rounded to float32. */
  observation() {
    return this.state.map((v) => Math.fround(v));
  }

  /** Push left (0) or right (1) for one step; returns {observation, reward, terminated, truncated}. */
  step(action) {
    if (action !== 0 && action !== 1) throw new Error(`invalid action ${action}`);
    if (this.terminated || this.truncated) throw new Error("the episode is over; start a new one");
    let [x, xDot, theta, thetaDot] = this.state;
    const force = action === 1 ? FORCE_MAG : -FORCE_MAG;
    const cosTheta = Math.cos(theta);
    const sinTheta = Math.sin(theta);
    const temp = (force + POLE_MASS_LENGTH * thetaDot ** 2 * sinTheta) / TOTAL_MASS;
    const thetaAcc = (GRAVITY * sinTheta - cosTheta * temp)
      / (LENGTH * (4.0 / 3.0 - (MASS_POLE * cosTheta ** 2) / TOTAL_MASS));
    const xAcc = temp - (POLE_MASS_LENGTH * thetaAcc * cosTheta) / TOTAL_MASS;
    x += TAU * xDot;
    xDot += TAU * xAcc;
    theta += TAU * thetaDot;
    thetaDot += TAU * thetaAcc;
    this.state = [x, xDot, theta, thetaDot];
    this.terminated = x < -X_THRESHOLD || x > X_THRESHOLD || theta < -THETA_THRESHOLD || theta > THETA_THRESHOLD;
    this.steps += 1;
    this.truncated = !this.terminated && this.steps >= MAX_EPISODE_STEPS;
    const reward = 1.0; // every step earns 1, the one on which the pole falls included
    this.episodeReturn += reward;
    return { observation: this.observation(), reward, terminated: this.terminated, truncated: this.truncated };
  }
}

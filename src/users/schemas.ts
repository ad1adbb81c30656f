import { Type, type Static } from '@sinclair/typebox'
import { Id } from '../schemas/common.js'

export const Role = Type.Union([Type.Literal('user'), Type.Literal('admin')])
export type Role = Static<typeof Role>

export const Username = Type.String({ minLength: 3, maxLength: 50, pattern: '^[A-Za-z0-9_.-]+$', examples: ['alice'] })
export const Password = Type.String({ minLength: 8, maxLength: 128, examples: ['correct-horse-battery'] })

export const User = Type.Object({ id: Id, username: Type.String(), role: Role }, { $id: 'User', title: 'User' })
export type User = Static<typeof User>

export const RegisterBody = Type.Object({
  username: Username,
  password: Password,
  role: Type.Optional(Role)
}, { additionalProperties: false })
export type RegisterBody = Static<typeof RegisterBody>

export const LoginBody = Type.Object({
  username: Type.String({ minLength: 1, maxLength: 50 }),
  password: Type.String({ minLength: 1, maxLength: 128 })
}, { additionalProperties: false })
export type LoginBody = Static<typeof LoginBody>

export const RegisterResponse = Type.Object({ message: Type.String(), user: Type.Ref(User) })
export const LoginResponse = Type.Object({
  message: Type.String(),
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer({ description: 'Seconds until the token expires' })
})

export const ChangePasswordBody = Type.Object({
  current_password: Type.String({ minLength: 1, maxLength: 128 }),
  new_password: Password
}, { additionalProperties: false })
export type ChangePasswordBody = Static<typeof ChangePasswordBody>
